"""A payment provider that always succeeds without I/O: Tenure's own cost, minus the PSP's."""

from __future__ import annotations

from tenure.payments.ports import (
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    RefundRequest,
    RefundResult,
)


class NullProvider:
    """Implements :class:`tenure.payments.ports.PaymentProvider` in memory."""

    name = "null"

    def __init__(self) -> None:
        self._charges: dict[str, ChargeResult] = {}
        self._refunds: dict[str, RefundResult] = {}

    def accepts(self, payment_method: str) -> bool:
        return payment_method.startswith("pm_")

    def accepted_hint(self) -> str:
        return "the null provider accepts any pm_* token"

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        result = self._charges.get(request.idempotency_key)
        if result is None:
            charge_id = f"ch_null_{len(self._charges) + 1}"
            result = ChargeResult(ChargeStatus.SUCCEEDED, charge_id=charge_id)
            self._charges[request.idempotency_key] = result
        return result

    async def lookup(self, idempotency_key: str) -> ChargeResult | None:
        return self._charges.get(idempotency_key)

    async def refund(self, request: RefundRequest) -> RefundResult:
        result = RefundResult(True, refund_id=f"re_null_{len(self._refunds) + 1}")
        self._refunds.setdefault(request.idempotency_key, result)
        return self._refunds[request.idempotency_key]

    async def lookup_refund(self, idempotency_key: str) -> RefundResult | None:
        return self._refunds.get(idempotency_key)

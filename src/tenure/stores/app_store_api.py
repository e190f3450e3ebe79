"""The App Store Server API through Apple's library (``AsyncAppStoreServerAPIClient``).

Used to reconcile: the statuses of a subscription (Get All Subscription Statuses) and its
transactions (Get Transaction History v2), each verified with the same verifier as the
notifications. ``TENURE_APP_STORE_API_URL`` replaces Apple's base URL (tests and ``make run``
use the fake in :mod:`tenure.stores.fakes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import httpx
from appstoreserverlibrary.api_client import (
    APIException,
    AsyncAppStoreServerAPIClient,
    GetTransactionHistoryVersion,
)
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.TransactionHistoryRequest import (
    Order,
    TransactionHistoryRequest,
)

from tenure.store_settings import UNSIGNED_ENVIRONMENTS, StoreConfigError, StoreSettings
from tenure.stores.errors import PurchaseNotFound, StoreUnavailable

MAX_HISTORY_PAGES: Final = 20


@dataclass(frozen=True, slots=True)
class SignedStatus:
    status: int
    signed_transaction: str
    signed_renewal: str | None


class _Client(AsyncAppStoreServerAPIClient):
    """Apple's client with a configurable base URL and timeout."""

    def __init__(self, settings: StoreSettings, environment: Environment) -> None:
        super().__init__(
            signing_key=str(settings.app_store_api_key).encode(),
            key_id=str(settings.app_store_api_key_id),
            issuer_id=str(settings.app_store_api_issuer_id),
            bundle_id=str(settings.app_store_bundle_id),
            environment=environment,
        )
        if settings.app_store_api_url:
            self._base_url = settings.app_store_api_url.rstrip("/")
        self._timeout = settings.timeout

    async def _execute_request(
        self,
        method: str,
        url: str,
        params: Any,
        headers: Any,
        json: Any,
        data: Any,
    ) -> Any:
        return await self.http_client.request(
            method, url, params=params, headers=headers, json=json, data=data, timeout=self._timeout
        )


class AppStoreApi:
    def __init__(self, settings: StoreSettings) -> None:
        missing = [
            name
            for name, value in (
                ("TENURE_APP_STORE_API_KEY", settings.app_store_api_key),
                ("TENURE_APP_STORE_API_KEY_ID", settings.app_store_api_key_id),
                ("TENURE_APP_STORE_API_ISSUER_ID", settings.app_store_api_issuer_id),
            )
            if not value
        ]
        if missing:
            raise StoreConfigError(f"the App Store Server API needs {', '.join(missing)}")
        environment = Environment(settings.app_store_environment)
        if environment.value in UNSIGNED_ENVIRONMENTS and not settings.app_store_api_url:
            raise StoreConfigError(
                "the App Store Server API has no URL for LocalTesting/Xcode; set "
                "TENURE_APP_STORE_API_URL"
            )
        if environment is Environment.XCODE:
            environment = Environment.LOCAL_TESTING
        self._client = _Client(settings, environment)

    async def close(self) -> None:
        await self._client.async_close()  # type: ignore[no-untyped-call]

    async def statuses(self, original_transaction_id: str) -> list[SignedStatus]:
        """The last transaction of every subscription of this customer's Apple account."""
        try:
            answer = await self._client.get_all_subscription_statuses(original_transaction_id)
        except APIException as error:
            raise _translated(error) from None
        except httpx.HTTPError as error:
            raise StoreUnavailable(f"App Store: {type(error).__name__}") from None
        found = []
        for group in answer.data or []:
            for item in group.lastTransactions or []:
                if item.rawStatus is not None and item.signedTransactionInfo:
                    found.append(
                        SignedStatus(
                            item.rawStatus, item.signedTransactionInfo, item.signedRenewalInfo
                        )
                    )
        return found

    async def history(self, original_transaction_id: str) -> list[str]:
        """Every signed transaction of the subscription's customer, oldest first."""
        signed: list[str] = []
        revision: str | None = None
        request = TransactionHistoryRequest(sort=Order.ASCENDING)
        for _ in range(MAX_HISTORY_PAGES):
            try:
                page = await self._client.get_transaction_history(
                    original_transaction_id, revision, request, GetTransactionHistoryVersion.V2
                )
            except APIException as error:
                raise _translated(error) from None
            except httpx.HTTPError as error:
                raise StoreUnavailable(f"App Store: {type(error).__name__}") from None
            signed.extend(page.signedTransactions or [])
            if not page.hasMore or not page.revision:
                break
            revision = page.revision
        return signed


def _translated(error: APIException) -> Exception:
    if error.http_status_code == 404:
        return PurchaseNotFound(f"App Store: {error.raw_api_error or 404}")
    return StoreUnavailable(f"App Store answered {error.http_status_code}")

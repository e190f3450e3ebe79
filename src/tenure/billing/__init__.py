"""Invoices: lines, tax by the market's rules, and their lifecycle."""

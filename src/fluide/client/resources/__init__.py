"""The resources of both clients: ``client.hr``, ``client.payroll``, ``client.pay``,
``client.books``, ``client.utils`` and ``client.authorize``."""

from fluide.client.resources.authorize import Authorize
from fluide.client.resources.books import Accounts, Books, JournalEntries
from fluide.client.resources.hr import HR, Employees
from fluide.client.resources.pay import Pay, Payouts, PayrollRuns, Wallets
from fluide.client.resources.payroll import Payroll, Payslips, Runs, Settings
from fluide.client.resources.utils import Utils

__all__ = [
    "HR",
    "Accounts",
    "Authorize",
    "Books",
    "Employees",
    "JournalEntries",
    "Pay",
    "Payouts",
    "Payroll",
    "PayrollRuns",
    "Payslips",
    "Runs",
    "Settings",
    "Utils",
    "Wallets",
]

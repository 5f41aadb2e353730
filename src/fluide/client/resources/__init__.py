"""The resources of both clients: ``client.hr``, ``client.payroll``, ``client.pay``,
``client.books``, ``client.utils``, ``client.authorize`` and ``client.workspaces``."""

from fluide.client.resources.authorize import Authorize
from fluide.client.resources.books import Accounts, Books, JournalEntries
from fluide.client.resources.hr import HR, Employees
from fluide.client.resources.pay import Pay, Payouts, PayrollRuns, Wallets
from fluide.client.resources.payroll import Payroll, Payslips, Runs, Settings
from fluide.client.resources.utils import Utils
from fluide.client.resources.workspaces import Companies, Workspaces

__all__ = [
    "HR",
    "Accounts",
    "Authorize",
    "Books",
    "Companies",
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
    "Workspaces",
]

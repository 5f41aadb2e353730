"""Payroll: statutory rules, runs and payslips."""

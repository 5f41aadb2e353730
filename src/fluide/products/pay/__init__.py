"""Pay: wallets, payouts, payroll disbursement and the sandbox settlement rail."""

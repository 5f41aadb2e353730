"""The payslip PDF (fpdf2). Pure: figures in, bytes out."""

from __future__ import annotations

from fluide.products.payroll.service import PayslipDocument


def _latin1(text: str) -> str:
    # The core PDF fonts are Latin-1; anything else is shown as '?' rather than failing.
    return text.encode("latin-1", "replace").decode("latin-1")


def payslip_pdf(doc: PayslipDocument) -> bytes:
    slip = doc.payslip
    # Imported here: fpdf2 brings Pillow and fontTools, about 33 MB of resident memory per
    # process, for a route most processes never serve.
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"Payslip {slip.employee_code} {doc.period_year}-{doc.period_month:02d}"))
    pdf.set_creator("Fluide Connect")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, "Payslip", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    rows = [
        ("Employee", f"{slip.employee_name} ({slip.employee_code})"),
        ("Period", f"{doc.period_year}-{doc.period_month:02d}"),
        ("Pay date", doc.pay_date.isoformat()),
        ("Country", slip.country_code),
        ("Run status", doc.run_status),
        ("Payslip id", slip.id),
    ]
    for label, value in rows:
        pdf.cell(45, 7, _latin1(label))
        pdf.cell(0, 7, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(120, 8, "Item", border="B")
    pdf.cell(
        0, 8, f"Amount ({slip.currency})", border="B", align="R", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", "", 11)
    items = [("Gross pay", slip.gross)]
    items += [(d.name, f"-{d.amount}") for d in slip.deductions]
    for label, amount in items:
        pdf.cell(120, 8, _latin1(label))
        pdf.cell(0, 8, amount, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(120, 9, "Net pay", border="T")
    pdf.cell(0, 9, slip.net, border="T", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(0, 4, _latin1(f"Statutory rules: {slip.rules_source}"))
    return bytes(pdf.output())

from fluide.cli.main import app

app()

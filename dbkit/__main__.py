from dbkit.cli import app

app(prog_name="dbkit")

from callqa.cli import run

run()

from omni_sim.cli import app

app(prog_name="python -m omni_sim")

"""A course-sized kernel: what a TM351 notebook session holds at its busiest (pandas, SQL through the %sql magic,
a plot), to measure and bound Jupyter's memory with."""

from __future__ import annotations

COURSE_SESSION = """
import io, os
import numpy as np
import pandas as pd
import matplotlib
matplotlib.use("agg")
import matplotlib.pyplot as plt

rows = 200_000
generator = np.random.default_rng(351)
frame = pd.DataFrame({
    "id": np.arange(rows),
    "value": generator.normal(size=rows),
    "group": generator.choice(list("ABCDEFGH"), size=rows),
    "label": [f"row {n}" for n in range(rows)],
})
summary = frame.groupby("group")["value"].describe()
if os.environ.get("DATABASE_URL"):
    from sqlalchemy import create_engine
    ipython = get_ipython()
    ipython.run_line_magic("load_ext", "sql")
    ipython.run_line_magic("sql", os.environ["DATABASE_URL"])
    frame.head(20_000).to_sql(f"session_{os.getpid()}", create_engine(os.environ["DATABASE_URL"]), if_exists="replace")
    selected = ipython.run_line_magic("sql", f"SELECT \\"group\\", avg(value) FROM session_{os.getpid()} GROUP BY 1")
    summary = summary.join(selected.set_index("group"))  # autopandas (the course's start-up): a DataFrame
figure, axes = plt.subplots()
frame["value"].plot.hist(bins=60, ax=axes)
figure.savefig(io.BytesIO(), format="png")
print("course session", len(summary))
"""

"""Every kernel's (and a terminal's ipython's) start-up settings: the course's own (course_startup/README.md)."""

c = get_config()  # noqa: F821 - provided by IPython when it loads this file

c.InteractiveShellApp.matplotlib = "inline"
c.InteractiveShellApp.extensions = ["tm351_course"]
c.SqlMagic.autopandas = True
c.SqlMagic.displaylimit = 50
# A failed statement raises SQLAlchemy's own exception, as it did under ipython-sql, for which the course's
# notebooks were written (`except sqlalchemy.exc.IntegrityError:`); jupysql's short errors raise RuntimeError.
c.SqlMagic.short_errors = False

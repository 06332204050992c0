"""``python -m course_lib``: the ``course`` command, for subprocesses given ``sys.executable``."""

from course_lib.cli import main

main()

"""The one exception type a person is meant to read.

Anything a trainee can cause (a wrong path, a missing column, a tracking server
that is down) is raised as :class:`CourseError` with a message that says what
was wrong and what to do.  The CLI prints those messages without a traceback;
every other exception is a bug and keeps its traceback.
"""


class CourseError(Exception):
    """A user-facing error: the message alone must be enough to act on."""


class ServerUnavailable(CourseError):
    """A server the command needs did not answer: trying again later may succeed.

    Its own exit code (75, ``EX_TEMPFAIL`` of sysexits.h) lets a scheduler tell
    "try again" from "this will fail every time": Argo Workflows retries a
    training pod on 75 and never on 1, a wrong setting that would fail again.
    """

    exit_code = 75

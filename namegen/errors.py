"""The one error type users see: the CLI turns it into a one-line message and exit code 2."""


class NamegenError(ValueError):
    """Bad input from the user (a file, an argument, a checkpoint), with a message that says what to do."""


class NamegenWarning(UserWarning):
    """Something the user asked for was only partly done (e.g. fewer names met the constraints)."""


def warn_short(found: int, count: int) -> None:
    """Rule 2 ran out of candidates: say how many names came back."""
    import warnings

    warnings.warn(f"only {found:,} of {count:,} names met the constraints within the candidate budget "
                  "(raise max_candidates, or loosen the constraints)", NamegenWarning, stacklevel=3)

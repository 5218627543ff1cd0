"""Domain exceptions. The CLI and the web app turn each into one clear line."""


class SihubError(Exception):
    """Base class: the message is meant for the user as it is."""


class IndexMismatchError(SihubError):
    """The index on disk was built with another embedder, chunker or schema."""


class IndexMissingError(SihubError):
    """No index has been built at the configured location yet."""


class IndexLockedError(SihubError):
    """Another process is writing to the index."""


class IndexUnavailableError(SihubError):
    """The index's server (Milvus) cannot be reached, timed out or failed; a later try may work."""


class BadInputError(SihubError):
    """A file cannot be read; the message is the reason (without the file name)."""


class UnsupportedFormatError(BadInputError):
    """The file type is not one sihub reads."""


class EmbedderError(SihubError):
    """The embedding model cannot be loaded."""


class LLMError(SihubError):
    """The language-model endpoint failed (down, timeout, malformed reply).

    `kind` says which, so the answer's note can tell the asker the true reason: "unreachable"
    (nothing listens, the name does not resolve), "timeout" (no reply in time) or "error" (it
    answered with an HTTP error or something that is not a chat completion).
    """

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind

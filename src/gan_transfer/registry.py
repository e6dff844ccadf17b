"""Name → object tables: the one extension mechanism every layer uses, and which imports nothing of the library.

Each extension point owns a :class:`Registry` in its own layer (model classes, adapter kinds, methods, metrics,
feature extractors). The two tables below let a lower layer use something a higher layer provides without importing
it: the zoo registers how it resolves its short names, and ``gan_transfer.data`` registers how images are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps the names written in config files (or passed as options) to this library's objects."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            key = name or obj.__name__  # type: ignore[attr-defined]
            if key in self._items and self._items[key] is not obj:
                raise ValueError(f"{self.what} '{key}' is already registered.")
            self._items[key] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise ValueError(
                f"Unknown {self.what} '{name}'; this version of gan_transfer knows: {known}. "
                "Upgrade gan_transfer or check the name."
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._items


# A resolver maps a short name (e.g. "gan-transfer/emoji-google") to a local folder, or None when it is not its own.
NAME_RESOLVERS: Registry[Callable[[str], Path | None]] = Registry("name resolver")

# An image reader turns "anything images" (folder, paths, PIL, arrays, tensors) into (N, C, R, R) tensors in
# [-1, 1]: reader(images, resolution, channels) . ``gan_transfer.data`` registers the one reader as "default".
IMAGE_READERS: Registry[Callable[..., Any]] = Registry("image reader")


def read_images(images: Any, resolution: int, channels: int = 3, **options: Any) -> Any:
    """Images through the registered reader (tensors in [-1, 1] already of that shape pass through unchanged);
    ``options`` (``min_images``, ``purpose``) go to the reader."""
    return IMAGE_READERS.get("default")(images, resolution, channels, **options)

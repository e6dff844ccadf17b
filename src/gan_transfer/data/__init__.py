"""Images in (``load_images``), the real image sets this library can install offline (``datasets``), and the one
module that runs package installers (``installers``)."""

from ..registry import IMAGE_READERS
from .reading import IMAGE_EXTENSIONS, ImagesLike, image_paths, list_image_files, load_images

IMAGE_READERS.register("default")(load_images)

__all__ = ["IMAGE_EXTENSIONS", "ImagesLike", "image_paths", "list_image_files", "load_images"]

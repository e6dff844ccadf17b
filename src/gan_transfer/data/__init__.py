"""Images in (``load_images``) and the real image sets this library can install offline (``datasets``)."""

from .images import IMAGE_EXTENSIONS, ImagesLike, list_image_files, load_images

__all__ = ["IMAGE_EXTENSIONS", "ImagesLike", "list_image_files", "load_images"]

"""prodemb: product embeddings and hierarchical category classification."""

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so that `import prodemb.text` does not pull in torch.
    if name in ("Bundle", "BundleError", "UnknownWordError", "Classification"):
        from . import bundle

        return getattr(bundle, name)
    if name == "Taxonomy":
        from .taxonomy import Taxonomy

        return Taxonomy
    raise AttributeError(name)


__all__ = ["Bundle", "BundleError", "UnknownWordError", "Classification", "Taxonomy", "__version__"]

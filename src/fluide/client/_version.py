"""The SDK's own version: ``fluide.client`` installs without the server (whose ``fluide``
package carries the server's version), so it cannot read ``fluide.__version__``."""

__version__ = "0.1.0"

"""In a checkout, the repository's folder is the `tm351vce` package: `import tm351vce.shelf` reads ./shelf.

Installed with pip, `tm351vce` is the package pip made from the same folders, and this file is not used.
"""

import os

__path__ = [os.path.dirname(os.path.abspath(__file__))]

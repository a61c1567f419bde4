"""History import (``cx360 import``): CSV / JSON-lines rows validated, then stored in bulk."""

"""cx360: customer and employee feedback scored and written into the CRM."""

__version__ = "0.1.0"

"""The pharmacy formulary: versioned drug data and its loader.

The data lives in a JSON file next to this module (one file per version) so that
clinicians can review it and every change shows up in review as a data diff.
"""

from .loader import (
    CURRENT_FILE,
    FormularyError,
    load_formulary,
    parse_formulary,
    read_formulary_text,
)
from .model import (
    ATC_CODE,
    ATC_GROUP,
    CODE_SYSTEMS,
    RXCUI,
    CodeSystem,
    DoseLimit,
    DrugFlags,
    Formulary,
    FormularyEntry,
    Source,
    TherapeuticClass,
    normalize_code,
)

__all__ = [
    "ATC_CODE",
    "ATC_GROUP",
    "CODE_SYSTEMS",
    "CURRENT_FILE",
    "RXCUI",
    "CodeSystem",
    "DoseLimit",
    "DrugFlags",
    "Formulary",
    "FormularyEntry",
    "FormularyError",
    "Source",
    "TherapeuticClass",
    "load_formulary",
    "normalize_code",
    "parse_formulary",
    "read_formulary_text",
]

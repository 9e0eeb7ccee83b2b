"""Conversions of raw public originals into the registry's feature encoding.

Used when only the raw file is present (e.g. after ``mnpad datasets fetch vi``); each gives the
same X, y and feature names as the converted ``.npz`` in ``shared/data`` (tested on the data).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ._readers import _READ_ERRORS, _finalize, _labels

__all__ = ["CONVERTERS"]

# categorical columns of the Vehicle Insurance benchmark, as listed by ajaychawda58/UADAD
# (Code/datasets/vehicle_insurance.py); PolicyNumber and the label are not features
_VI_CATEGORICAL = [
    "Make", "AccidentArea", "Sex", "MaritalStatus", "Fault", "PolicyType", "VehicleCategory",
    "Deductible", "Days_Policy_Accident", "Days_Policy_Claim", "AgeOfVehicle",
    "AgeOfPolicyHolder", "PoliceReportFiled", "WitnessPresent", "AgentType",
    "NumberOfSuppliments", "AddressChange_Claim", "VehiclePrice", "PastNumberOfClaims",
    "NumberOfCars", "BasePolicy", "Month", "MonthClaimed", "DayOfWeek", "DayOfWeekClaimed",
]
_VI_NUMERIC = ["Year", "WeekOfMonth", "WeekOfMonthClaimed", "RepNumber", "DriverRating", "Age"]


def vehicle_insurance(path):
    """``fraud_oracle.csv`` -> 142 one-hot columns (values as str) + 6 raw numeric = 148."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except _READ_ERRORS as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path} could not be read as a CSV: {type(exc).__name__}: {exc}") \
            from None
    needed = _VI_CATEGORICAL + _VI_NUMERIC + ["FraudFound_P"]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{path} is not the Vehicle Insurance csv: missing columns {missing}.")
    X = pd.concat([pd.get_dummies(df[_VI_CATEGORICAL].astype(str)), df[_VI_NUMERIC]], axis=1)
    y = _labels(df["FraudFound_P"].to_numpy(), path)
    return _finalize(X, y, [str(c) for c in X.columns], None, path)


CONVERTERS = {"vehicle_insurance": vehicle_insurance}

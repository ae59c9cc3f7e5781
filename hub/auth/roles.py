from enum import StrEnum


class Role(StrEnum):
    DESIGNER = "designer"
    LAB = "lab"
    MAKER = "maker"
    CITY = "city"
    ADMIN = "admin"

"""A stand-in for django-oscar's checkout app: label and URL namespace ``checkout``."""

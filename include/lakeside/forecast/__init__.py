"""Forecasting models of the platform (torch, imported only where a model is trained or served)."""

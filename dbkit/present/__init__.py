"""Presentation: tables, plots and CSV made from results. Reads the model; runs nothing."""

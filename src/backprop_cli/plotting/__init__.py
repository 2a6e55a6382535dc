"""Figures, each drawn from the files a command wrote. The only package that imports matplotlib."""

"""`configspec report`: one self-contained HTML page from the profiles and recommendations.

`collect` (find and load the input files, noting what is missing), `data` (the plots' data as
plain dataclasses, pure and tested), `figures` (plotly drawing), `html` (the page, plotly.js
embedded once), `build` (the command: collect -> data -> figures -> page, written atomically).
"""

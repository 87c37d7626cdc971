"""The Streamlit dashboard (``loyaltylens dashboard``): ``app.py`` lays out widgets over ``data.py``'s functions."""

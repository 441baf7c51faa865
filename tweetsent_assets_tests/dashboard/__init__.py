"""Tests of the Streamlit dashboard in dashboard/."""

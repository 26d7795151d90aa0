"""Helpers the tests share (a live server in a thread, clips with planted expressions); never shipped."""

"""Plain helpers the tests share (no tests here): import them, never a test module."""

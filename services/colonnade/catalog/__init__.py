"""Generated from proto/ by scripts/gen.py; do not edit."""

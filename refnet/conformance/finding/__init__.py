"""Finding a submission's names: its files and notebooks, the book's layout, --map."""

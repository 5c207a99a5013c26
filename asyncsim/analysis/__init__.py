"""Reading results: closed-form bounds, fits of the complexity shapes, tables, reports and
figures."""

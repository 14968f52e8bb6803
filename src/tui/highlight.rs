//! Syntax highlighting (being written).

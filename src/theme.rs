//! UI themes (being written).

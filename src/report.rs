//! Session reports and timesheets (being written).

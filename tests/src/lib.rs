//! Test fixtures shared by the workspace.

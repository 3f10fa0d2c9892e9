//! meshscope reporter (to be built in its own issue).

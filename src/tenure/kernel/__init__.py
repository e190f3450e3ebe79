"""Pure building blocks shared by every module: money, time, ids, errors, calendar math."""

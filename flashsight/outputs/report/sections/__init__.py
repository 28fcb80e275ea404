"""The report's sections, one module each, in reading order: overview, one per workload family, roofline,
timeline, findings (and what changed against a baseline). Each takes the gathered ReportData and returns a
Section; none computes beyond choosing and formatting: the numbers come from analysis/ and the tables."""

"""Evaluation reports: pure computations over a fitted model and pandas frames (no
database), each returning a JSON-ready dict with a "kind" and a "version".

- performance: `classification_performance`, `regression_performance`
- fairness: `fairness_report` (vectorised; equals fairlearn's MetricFrame)
- explanations: `explanation_report` (SHAP: tree, linear or model-agnostic)
- robustness: `robustness_report` (metric drop under noise and dropped features)
- data_quality: `data_quality_report` (missing, balance, leakage, PII, duplicates)
- figures: SVG strings for the console
"""

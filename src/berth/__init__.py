"""berth: a drop-in OpenStack Placement and an explainable scheduler."""

"""What the vendor declared, parsed once at the boundary into typed objects the judges take."""

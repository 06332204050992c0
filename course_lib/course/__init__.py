"""The course as a product: Application 0's environment diagnosis, labs generated
from the solutions, solutions run end to end with papermill, and the book build."""

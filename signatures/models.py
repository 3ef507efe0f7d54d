# Models arrive with the payments and signatures issues.

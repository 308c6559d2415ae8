output "distribution_id" {
  description = "CloudFront distribution ID (for invalidations after publishing the SPA)."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "CloudFront distribution ARN."
  value       = aws_cloudfront_distribution.this.arn
}

output "domain_name" {
  description = "CloudFront domain name (`<id>.cloudfront.net`)."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "hosted_zone_id" {
  description = "Route 53 zone of the distribution (alias records)."
  value       = aws_cloudfront_distribution.this.hosted_zone_id
}

output "spa_bucket" {
  description = "Name of the SPA bucket (publish with `aws s3 sync services/colonnade/web s3://<bucket>/`)."
  value       = aws_s3_bucket.spa.id
}

output "spa_bucket_arn" {
  description = "ARN of the SPA bucket."
  value       = aws_s3_bucket.spa.arn
}

output "spa_kms_key_arn" {
  description = "KMS key of the SPA bucket (publishers need kms:GenerateDataKey on it)."
  value       = aws_kms_key.spa.arn
}

output "site_objects" {
  description = "Keys of the SPA files this module uploaded, with the content each was given (MD5 of the source, or of index.html as published)."
  value       = { for k, o in aws_s3_object.site : k => k == "index.html" ? md5(local.index_html) : filemd5("${var.site_dir}/${k}") }
}
